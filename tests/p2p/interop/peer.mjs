// A stock js-libp2p node for the Aethel interop tests (tests/p2p/interop_test.cpp).
//
//   node --import ./polyfill.mjs peer.mjs listen
//       listens on 127.0.0.1, prints {"event":"listening","peerId","addrs"}, then one JSON
//       line per event: "identify" (what it learned about a peer), "ping" (after it pings
//       each identified peer back). Runs until stdin closes.
//   node --import ./polyfill.mjs peer.mjs dial <multiaddr>
//       dials, waits for identify, pings, prints one JSON line per step, exits 0 on success.
//
// In both modes the node runs gossipsub subscribed to "aethel/lattice/v1" and prints
// "subscriber" (a peer joined the topic) and "message" (data received, with its author).
// While it runs, a line "publish <text>" on stdin publishes <text> on the topic, and
// "dial <multiaddr>" dials another peer.
//
// Every line on stdout is one JSON object; diagnostics go to stderr.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { createInterface } from 'node:readline'

const TOPIC = 'aethel/lattice/v1'

const [mode, target] = process.argv.slice(2)
const emit = (object) => process.stdout.write(JSON.stringify(object) + '\n')

const node = await createLibp2p({
  addresses: { listen: mode === 'listen' ? ['/ip4/127.0.0.1/tcp/0'] : [] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    pubsub: gossipsub({ allowPublishToZeroTopicPeers: false, heartbeatInterval: 200 })
  }
})

node.services.pubsub.subscribe(TOPIC)
node.services.pubsub.addEventListener('subscription-change', (event) => {
  for (const subscription of event.detail.subscriptions) {
    if (subscription.topic === TOPIC && subscription.subscribe) {
      emit({ event: 'subscriber', peerId: event.detail.peerId.toString() })
    }
  }
})
node.services.pubsub.addEventListener('message', (event) => {
  const message = event.detail
  if (message.topic !== TOPIC) return
  emit({
    event: 'message',
    from: message.type === 'signed' ? message.from.toString() : null,
    signed: message.type === 'signed',
    data: new TextDecoder().decode(message.data)
  })
})

async function command (line) {
  const [verb, ...rest] = line.trim().split(' ')
  try {
    if (verb === 'publish') {
      const result = await node.services.pubsub.publish(TOPIC, new TextEncoder().encode(rest.join(' ')))
      emit({ event: 'published', recipients: result.recipients.map((p) => p.toString()) })
    } else if (verb === 'dial') {
      const connection = await node.dial(multiaddr(rest[0]))
      emit({ event: 'connected', peerId: connection.remotePeer.toString() })
    }
  } catch (error) {
    emit({ event: 'error', step: verb, message: String(error) })
  }
}

const identified = new Map()
node.addEventListener('peer:identify', (event) => {
  const result = event.detail
  const peerId = result.peerId.toString()
  emit({
    event: 'identify',
    peerId,
    agentVersion: result.agentVersion,
    protocols: result.protocols,
    listenAddrs: result.listenAddrs.map((a) => a.toString())
  })
  identified.get(peerId)?.()
  if (mode === 'listen') pingBack(result.peerId)
})

async function pingBack (peerId) {
  try {
    const rtt = await node.services.ping.ping(peerId)
    emit({ event: 'ping', peerId: peerId.toString(), rtt })
  } catch (error) {
    emit({ event: 'error', step: 'ping', message: String(error) })
  }
}

function waitForIdentify (peerId, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('identify timed out')), timeoutMs)
    identified.set(peerId, () => { clearTimeout(timer); resolve() })
  })
}

if (mode === 'listen') {
  emit({
    event: 'listening',
    peerId: node.peerId.toString(),
    addrs: node.getMultiaddrs().map((a) => a.toString())
  })
  const lines = createInterface({ input: process.stdin })
  lines.on('line', (line) => { command(line) })
  lines.on('close', async () => { await node.stop(); process.exit(0) })
} else if (mode === 'dial') {
  try {
    const address = multiaddr(target)
    const expected = address.getComponents().find((c) => c.name === 'p2p')?.value
    const identifiedPromise = waitForIdentify(expected, 10000)
    const connection = await node.dial(address)
    emit({ event: 'connected', peerId: connection.remotePeer.toString() })
    await identifiedPromise
    const rtt = await node.services.ping.ping(address)
    emit({ event: 'ping', peerId: connection.remotePeer.toString(), rtt })
    await node.stop()
    process.exit(0)
  } catch (error) {
    emit({ event: 'error', message: String(error?.stack ?? error) })
    await node.stop()
    process.exit(1)
  }
} else {
  process.stderr.write('usage: peer.mjs listen | dial <multiaddr>\n')
  process.exit(2)
}
