/** Log levels the library uses. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

/**
 * A logger hook. `fields` carry user keys, status codes, error codes and timings, never token
 * material (tokens, codes, verifiers, assertions, secrets).
 *
 * @example
 * ```ts
 * new OngoingAccess({ ...options, logger: (level, message, fields) => myLog(level, message, fields) })
 * ```
 */
export type Logger = (level: LogLevel, message: string, fields: Record<string, unknown>) => void

/**
 * A logger object with one method per level, passed as it is: `console`, or a pino or bunyan
 * logger. It is called pino-style, `logger.warn(fields, message)`, when it has a `child` method and
 * either a `bindings` method (pino, Fastify's `log`) or a `level` method (bunyan); otherwise
 * console-style, `logger.warn(message, fields)` (console, winston and the like).
 */
export interface LoggerObject {
  debug(...args: unknown[]): void
  info(...args: unknown[]): void
  warn(...args: unknown[]): void
  error(...args: unknown[]): void
}

/**
 * The `logger` option: a {@link Logger} function, a {@link LoggerObject}, or `false` for silence.
 * Left out, `warn` and `error` lines go to `console.warn` and `console.error`.
 */
export type LoggerOption = Logger | LoggerObject | false

export const silentLogger: Logger = () => {}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error']

/** The default: warnings and errors reach the console, debug and info lines do not. */
const consoleWarnings: Logger = (level, message, fields) => {
  if (level === 'warn') console.warn(message, fields)
  else if (level === 'error') console.error(message, fields)
}

/** Whether a logger object takes `(fields, message)`: pino and bunyan. */
function isFieldsFirst(logger: LoggerObject): boolean {
  const candidate = logger as unknown as Record<string, unknown>
  return (
    typeof candidate.child === 'function' &&
    (typeof candidate.bindings === 'function' || typeof candidate.level === 'function')
  )
}

/**
 * Turns the `logger` option into the library's logger, made unable to fail what it logs about.
 *
 * @throws {TypeError} when the option is none of the accepted shapes.
 */
export function resolveLogger(option: LoggerOption | undefined): Logger {
  if (option === undefined) return isolated(consoleWarnings)
  if (option === false) return silentLogger
  if (typeof option === 'function') return isolated(option)
  if (
    typeof option === 'object' &&
    option !== null &&
    LEVELS.every((level) => typeof (option as unknown as Record<string, unknown>)[level] === 'function')
  ) {
    const fieldsFirst = isFieldsFirst(option)
    return isolated((level, message, fields) => {
      if (fieldsFirst) option[level](fields, message)
      else option[level](message, fields)
    })
  }
  throw new TypeError(
    'ongoing: `logger` must be a function (level, message, fields), an object with debug, info, ' +
      'warn and error methods (console, pino, bunyan), or false',
  )
}

function isolated(logger: Logger): Logger {
  return (level, message, fields) => {
    try {
      logger(level, message, fields)
    } catch {
      // A logger that throws must not change an outcome.
    }
  }
}
