import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * The one root logger; components take a child (`log.child({ component: 'ingest' })`).
 * Tokens and phone numbers never reach the log.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const pretty = destination === undefined && process.stdout.isTTY;
  return pino(
    {
      level,
      redact: {
        paths: [
          'token',
          '*.token',
          'authorization',
          '*.authorization',
          'req.headers.authorization',
          'req.headers.cookie',
          'phone',
          '*.phone',
          'to',
          '*.to',
          'from',
          '*.from',
        ],
        censor: '[redacted]',
      },
      ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss' } } } : {}),
    },
    destination,
  );
}
