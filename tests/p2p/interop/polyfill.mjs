// js-libp2p 3.x calls Promise.withResolvers, which Node 20 lacks. Loaded with
// `node --import ./polyfill.mjs` before anything else.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve
    let reject
    const promise = new this((res, rej) => {
      resolve = res
      reject = rej
    })
    return { promise, resolve, reject }
  }
}
