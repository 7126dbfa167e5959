/** The Bun adapter (src/adapters/bun.ts) against the adapter contract. */
import { runtimeDeps, serve } from '../../src/adapters/bun.ts'
import { adapterContract } from './shared.ts'

adapterContract('adapters/bun', serve, runtimeDeps)
