/** Where the progress line goes: stderr in the CLI, a fake stream in tests. */
export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface ProgressOptions {
  /** Nothing is drawn before this much time has passed: short runs stay quiet. */
  delayMs?: number;
  /** Redraws at most this often. */
  intervalMs?: number;
  /** Set when logs are JSON: a progress line would corrupt them. */
  jsonLogs?: boolean;
}

const CLEAR = '\r\x1b[K';

/**
 * "120/400 objects" on a terminal, redrawn in place, for an apply or destroy that runs longer
 * than about a second; erased when done. Draws nothing when the stream is not a terminal or logs
 * are JSON.
 */
export class ProgressLine {
  private readonly enabled: boolean;
  private readonly delayMs: number;
  private readonly intervalMs: number;
  private done = 0;
  private total = 0;
  private timer: NodeJS.Timeout | undefined;
  private shown = false;
  private lastDraw = 0;
  private stopped = false;

  constructor(
    private readonly stream: ProgressStream,
    opts: ProgressOptions = {},
  ) {
    this.enabled = stream.isTTY === true && opts.jsonLogs !== true;
    this.delayMs = opts.delayMs ?? 1_000;
    this.intervalMs = opts.intervalMs ?? 100;
  }

  /** Records progress; draws once the delay has passed. */
  readonly update = (done: number, total: number): void => {
    if (!this.enabled || this.stopped) return;
    this.done = done;
    this.total = total;
    if (done >= total && total > 0) return this.stop();
    if (this.shown) {
      if (Date.now() - this.lastDraw >= this.intervalMs) this.draw();
      return;
    }
    // The first update starts the clock; the line appears only if the work is still running then.
    this.timer ??= setTimeout(() => this.draw(), this.delayMs);
    this.timer.unref();
  };

  /** Erases the line (if drawn) and draws no more. Safe to call twice. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.shown) this.stream.write(CLEAR);
    this.shown = false;
    this.stopped = true;
  }

  private draw(): void {
    if (this.stopped) return;
    this.shown = true;
    this.lastDraw = Date.now();
    this.stream.write(`${CLEAR}weft: ${this.done}/${this.total} objects`);
  }
}
