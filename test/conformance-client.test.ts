/**
 * RFC 6455 conformance of OUR client (Autobahn|Testsuite groups 1-7, 9, 10 equivalent):
 * a raw server crafts the bytes, our WebSocket client echoes. Cases: src/conformance/cases/;
 * the in-process session: test/helpers/conformance-cases.ts.
 */
import { registerConformance } from './helpers/conformance-cases.ts';

registerConformance('client');
