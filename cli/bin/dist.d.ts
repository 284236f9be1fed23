/** Types of dist.js (plain JavaScript: it runs before any TypeScript can). */
export declare const ROOT: string;
export declare const DIST: string;
export declare const EXTERNAL: readonly string[];
export interface DistManifest {
  format: number;
  node: string;
  plugins: string[];
  entries: Record<string, string>;
  inputs: Record<string, [size: number, mtimeMs: number, sha256: string]>;
}
export declare function distStatus(): { fresh: true } | { fresh: false; reason: string };
export declare function buildDist(opts?: { clean?: boolean }): Promise<DistManifest>;
export declare function ensureDist(): Promise<string>;
