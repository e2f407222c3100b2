// What every benchmark section gets and gives (bench/run.ts runs them in order).
export interface Context {
  /** Runs per measured case (at least 5 unless --quick). */
  runs: number;
  quick: boolean;
  long: boolean;
  log: (line: string) => void;
  /** One-line figures a later section quotes (e.g. the anchors quote `safety`). */
  results: Record<string, string>;
}

export interface Section {
  id: string;
  title: string;
  /** Markdown body for BENCHMARKS.md (also printed). */
  run(ctx: Context): Promise<string>;
}
