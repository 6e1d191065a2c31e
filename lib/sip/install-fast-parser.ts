/**
 * Side-effect module: makes sip.js use icephone's fast parse path (see fast-parser.ts) unless
 * ICEPHONE_STOCK_SIP_PARSER=1 asks for the stock one (for A/B measurements). Imported once by
 * user-agent.ts.
 */
import { installFastSipParser } from './fast-parser.js';

if (process.env.ICEPHONE_STOCK_SIP_PARSER !== '1') installFastSipParser();
