// Genrefy on NestJS: the user connects once; from then on the app reads their listening history
// whenever it likes, on their requests and in a background job, with a fresh access token.
//
//   pnpm start      PORT=3003  ISSUER=http://127.0.0.1:4000  JOB_EVERY_SECONDS=10  REDIS_URL=redis://…
//                   (or DATABASE_URL=postgres://… in place of REDIS_URL)
import 'reflect-metadata'
import type { Server } from 'node:http'
import { NestFactory } from '@nestjs/core'
import { PostgresTokenStore } from '@ongoing/postgres'
import { AppModule } from './app.module'
import { port, store } from './config'

async function bootstrap(): Promise<void> {
  // PostgreSQL: create the app's tables when they are missing (idempotent; needs no superuser),
  // before the module's background job can read them.
  if (store instanceof PostgresTokenStore) await store.migrate()
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] })
  app.enableShutdownHooks() // SIGTERM, SIGINT: AppModule closes the store
  await store?.ready() // fail now, not on the first request, when Redis or PostgreSQL is unreachable
  // app.listen() would log a port in use as an error with its stack: listen here, to say it in one line.
  await app.init()
  const server: Server = app.getHttpServer()
  try {
    await new Promise<void>((resolve, reject) =>
      server.once('error', reject).listen(port, 'localhost', resolve),
    )
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error
    console.error(
      `nestjs example: port ${port} is in use: stop what listens there, or start with another PORT`,
    )
    process.exit(1)
  }
  console.log(`nestjs example: http://localhost:${port}`)
}
void bootstrap()
