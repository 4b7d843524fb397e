import { MemoryTokenStore } from '@ongoing/core'
import { runTokenStoreConformance } from '../src/index.js'

// A memory store's only "second client" is the same store in the same process: that is how two
// OngoingAccess instances in one process share it, so the cross-client cases run against it too.
runTokenStoreConformance(
  'MemoryTokenStore',
  async () => {
    const store = new MemoryTokenStore()
    return { store, connect: async () => store }
  },
  { complete: true },
)

runTokenStoreConformance(
  'MemoryTokenStore with maxEntries',
  async () => {
    const store = new MemoryTokenStore({ maxEntries: 1_000 })
    return { store, connect: async () => store }
  },
  { complete: true },
)
