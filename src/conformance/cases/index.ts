/**
 * The conformance case table: Autobahn|Testsuite groups 1-7, 9 and 10, in order. The test
 * suite runs it against our server and our client in process; `fullduplex check` runs the
 * server-role cases against any echo server.
 */
import type { GroupDef } from '../case.js';
import { closing } from './closing.js';
import { fragmentation } from './fragmentation.js';
import { framing } from './framing.js';
import { limits } from './limits.js';
import { misc } from './misc.js';
import { opcodes } from './opcodes.js';
import { pingPong } from './ping-pong.js';
import { reservedBits } from './reserved-bits.js';
import { utf8 } from './utf8.js';

export const GROUPS: readonly GroupDef[] = [
  framing(),
  pingPong(),
  reservedBits(),
  opcodes(),
  fragmentation(),
  utf8(),
  closing(),
  limits(),
  misc(),
];
