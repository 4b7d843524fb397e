import { MemoryTokenStore } from '@ongoing/core'
import { runTokenStoreConformance } from '../src/index.js'

runTokenStoreConformance('MemoryTokenStore', async () => ({ store: new MemoryTokenStore() }))

runTokenStoreConformance('MemoryTokenStore with maxEntries', async () => ({
  store: new MemoryTokenStore({ maxEntries: 1_000 }),
}))
