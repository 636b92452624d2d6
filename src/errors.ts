/**
 * Errors are part of weft's API: every error has a stable code, a message that says what is wrong,
 * and (for input errors) the place in the manifest and a hint saying what to do.
 * Only src/cli prints errors or chooses exit codes.
 */

/** A position in a manifest file; line and column are 1-based. */
export interface SourcePos {
  file: string;
  line: number;
  col: number;
}

export function formatPos(pos: SourcePos): string {
  return `${pos.file}:${pos.line}:${pos.col}`;
}

export class WeftError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WeftError';
    this.code = code;
  }
}

/** One problem found in the manifests. */
export interface Problem {
  code: string;
  pos: SourcePos;
  /** What is wrong, naming the object and the value. */
  message: string;
  /** What to do about it. */
  hint: string;
}

export function formatProblem(p: Problem): string {
  return `${formatPos(p.pos)}: ${printable(p.message)}; ${p.hint} [${p.code}]`;
}

/** Control characters from manifest text (escape sequences, line breaks) shown as \uXXXX, never sent to a terminal. */
function printable(s: string): string {
  return s.replace(/[\p{Cc}\p{Zl}\p{Zp}]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Invalid manifests: carries every problem found, so users fix them all in one go. Exit code 2. */
export class InvalidManifestError extends WeftError {
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[]) {
    const sorted = [...problems].sort(compareProblems);
    super('INVALID_MANIFEST', sorted.map(formatProblem).join('\n'));
    this.name = 'InvalidManifestError';
    this.problems = sorted;
  }
}

function compareProblems(a: Problem, b: Problem): number {
  return a.pos.file.localeCompare(b.pos.file) || a.pos.line - b.pos.line || a.pos.col - b.pos.col;
}

/** Bad command-line usage. Exit code 2. */
export class UsageError extends WeftError {
  constructor(message: string) {
    super('USAGE', message);
    this.name = 'UsageError';
  }
}

/** A kernel command failed: names the object, the command and keeps the kernel's message verbatim. */
export class KernelError extends WeftError {
  readonly command: string;
  readonly stderr: string;
  constructor(message: string, command: string, stderr: string, options?: { cause?: unknown }) {
    super('KERNEL', `${message}: ${command}: ${stderr.trim() || 'failed'}`, options);
    this.name = 'KernelError';
    this.command = command;
    this.stderr = stderr;
  }
}

/** Another weft writer holds the per-host lock. */
export class LockedError extends WeftError {
  constructor(message: string) {
    super('LOCKED', message);
    this.name = 'LockedError';
  }
}

/** The kernel still differs from the desired state after an apply. */
export class NotConvergedError extends WeftError {
  readonly remaining: readonly string[];
  constructor(remaining: readonly string[]) {
    super('NOT_CONVERGED', `apply did not converge; still different:\n${remaining.join('\n')}`);
    this.name = 'NotConvergedError';
    this.remaining = remaining;
  }
}

/**
 * The kernel layer refused a token that is not what its place needs (an interface name, an
 * address, a MAC, a number...): a rule upstream missed it. Never becomes a command. Exit code 1.
 */
export class KernelInputError extends WeftError {
  constructor(what: string, value: unknown, expected: string) {
    super('KERNEL_INPUT', `internal error (a weft bug, please report it): refusing ${what} ${JSON.stringify(value)}: not ${expected}`);
    this.name = 'KernelInputError';
  }
}

/** A condition the code believes impossible: a weft bug, not a user error. */
export class InternalError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INTERNAL', `internal error (a weft bug, please report it): ${message}`, options);
    this.name = 'InternalError';
  }
}
