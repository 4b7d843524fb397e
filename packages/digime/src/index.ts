export type { DigiMePrivateKey } from './contract-key.js'
export { digiMe } from './digime.js'
export type { DigiMeOptions } from './options.js'
