// Genrefy on NestJS: the user connects once; from then on the app reads their listening history
// whenever it likes, on their requests and in a background job, with a fresh access token.
//
//   pnpm start      PORT=3003  ISSUER=http://127.0.0.1:4000  JOB_EVERY_SECONDS=10  REDIS_URL=redis://…
import 'reflect-metadata'
import { NestFactory } from '@nestjs/core'
import { AppModule } from './app.module'
import { port, store } from './config'

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] })
  app.enableShutdownHooks()
  await store?.ready() // fail now, not on the first request, when Redis is unreachable
  await app.listen(port, 'localhost')
  console.log(`nestjs example: http://localhost:${port}`)
}
void bootstrap()
