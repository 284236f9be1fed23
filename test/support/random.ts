/**
 * The seeded generator tests and benchmarks share: the SDK's (core/sdk's
 * seededRandom, mulberry32), so a test replays what the simulator plugin draws.
 */
export { seededRandom as seeded } from '../../core/sdk/index.ts';
