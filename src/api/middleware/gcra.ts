/** The GCRA token bucket lives in src/ratelimit/gcra.ts, shared with the realtime node's upgrade limits. */
export { GCRA_LUA, takeToken, takeTokens, type RateDecision } from '../../ratelimit/gcra.js';
