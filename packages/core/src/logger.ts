/** Log levels the library uses. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

/**
 * A logger hook. `fields` carry user keys, status codes, error codes and timings, never token
 * material (tokens, codes, verifiers, assertions, secrets).
 *
 * @example
 * ```ts
 * new OngoingAccess({ ...options, logger: (level, message, fields) => pino[level](fields, message) })
 * ```
 */
export type Logger = (level: LogLevel, message: string, fields: Record<string, unknown>) => void

export const silentLogger: Logger = () => {}
