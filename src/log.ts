import pino from 'pino';
import type { Logger } from 'pino';
import { redactSecrets } from './redact.js';

export type { Logger };

export type LogFormat = 'json' | 'pretty';

/**
 * Creates the process logger. Logs go to stderr so stdout stays for results (plans, JSON).
 * Pretty output is a small built-in formatter: readable on a terminal without pulling a
 * transport thread into every short-lived CLI run. Every line is redacted (src/redact.ts): a URL
 * with credentials in a field, a message or an error's text never reaches the log.
 */
export function createLogger(level: string, format: LogFormat | undefined): Logger {
  const pretty = format ? format === 'pretty' : process.stderr.isTTY === true;
  if (!pretty) {
    const dest = pino.destination({ fd: 2, sync: true });
    return pino({ level, base: null }, { write: (line: string) => dest.write(redactSecrets(line)) });
  }
  return pino(
    { level, base: null, timestamp: false },
    { write: (line: string) => process.stderr.write(redactSecrets(prettyLine(line))) },
  );
}

const levelNames: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

function prettyLine(line: string): string {
  const rec = JSON.parse(line) as Record<string, unknown>;
  const { level, msg, ...fields } = rec;
  const name = levelNames[level as number] ?? String(level);
  const rest = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${name.padEnd(5)} ${String(msg ?? '')}${rest ? `  ${rest}` : ''}\n`;
}

/** A logger that drops everything, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
