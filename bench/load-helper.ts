// A load generator standing in for the users: GET requests through the gateway stand-in at a fixed
// rate with the users' Host and no canary header; records which backend answered each one.
import http from 'node:http';

export interface UserHit {
  at: number;
  status: number;
  backend: string;
}

export class UserLoad {
  readonly hits: UserHit[] = [];
  errors = 0;
  private timer?: NodeJS.Timeout;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private inFlight = new Set<http.ClientRequest>();

  constructor(
    private readonly gatewayUrl: string,
    private readonly host: string,
    private readonly rps: number,
  ) {}

  start(): void {
    const t0 = Date.now();
    let sent = 0;
    // Catch up by schedule rather than by a fixed interval: timers drift on a loaded machine.
    this.timer = setInterval(() => {
      const due = Math.floor(((Date.now() - t0) * this.rps) / 1000);
      for (; sent < due; sent++) this.one();
    }, 5);
  }

  private one(): void {
    const req = http.get(
      `${this.gatewayUrl}/`,
      { agent: this.agent, headers: { host: this.host }, timeout: 10_000 },
      (res) => {
        res.resume();
        res.on('end', () => {
          this.inFlight.delete(req);
          this.hits.push({
            at: Date.now(),
            status: res.statusCode ?? 0,
            backend: String(res.headers['x-standin-backend'] ?? ''),
          });
        });
      },
    );
    this.inFlight.add(req);
    req.on('error', () => {
      this.inFlight.delete(req);
      this.errors++;
    });
  }

  stop(): void {
    clearInterval(this.timer);
    for (const r of this.inFlight) r.destroy();
    this.agent.destroy();
  }

  /** Hits answered by `backend` ("ns/service") at or after `from`. */
  servedBy(backend: string, from = 0): UserHit[] {
    return this.hits.filter((h) => h.backend === backend && h.at >= from);
  }
}
