// Module hooks (node:module register) that tell the main thread each time `jose` is resolved.
let port
export function initialize(data) {
  port = data.port
}
export async function resolve(specifier, context, next) {
  if (specifier === 'jose') port.postMessage('jose')
  return next(specifier, context)
}
