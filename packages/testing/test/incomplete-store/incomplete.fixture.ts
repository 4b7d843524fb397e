import { MemoryTokenStore } from '../../../core/src/index.js'
import { runTokenStoreConformance } from '../../src/store-conformance.js'

// A memory store without claimOnce: told complete (CONFORMANCE_COMPLETE=1), or not.
runTokenStoreConformance(
  'MemoryTokenStore without claimOnce',
  async () => {
    const store = new MemoryTokenStore()
    Object.defineProperty(store, 'claimOnce', { value: undefined })
    return { store, connect: async () => store }
  },
  { complete: process.env.CONFORMANCE_COMPLETE === '1' },
)
