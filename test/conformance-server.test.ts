/**
 * RFC 6455 conformance of OUR server (Autobahn|Testsuite groups 1-7, 9, 10 equivalent):
 * a raw client crafts the bytes, our WebSocketServer echoes. Cases: src/conformance/cases/;
 * the in-process session: test/helpers/conformance-cases.ts.
 */
import { registerConformance } from './helpers/conformance-cases.ts';

registerConformance('server');
