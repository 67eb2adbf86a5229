// Preloaded into kinesis-mock (node --require) by the Go package kinesismock.
// kinesis-mock hard-codes 0.0.0.0 as its listen address and has no setting
// for it; this rewrites every wildcard or missing listen host to the address
// in SPILLWAY_KINESIS_MOCK_HOST (default 127.0.0.1) so that it never listens
// on other interfaces.
'use strict';
const net = require('net');
const host = process.env.SPILLWAY_KINESIS_MOCK_HOST || '127.0.0.1';
const wildcard = (h) => h === undefined || h === null || h === '' || h === '0.0.0.0' || h === '::';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first === undefined || typeof first === 'function') {
    args.unshift({ port: 0, host });
  } else if (typeof first === 'number' || (typeof first === 'string' && /^[0-9]+$/.test(first))) {
    if (typeof args[1] === 'string' || args[1] === undefined || args[1] === null) {
      if (wildcard(args[1])) args[1] = host;
    } else {
      args.splice(1, 0, host);
    }
  } else if (first !== null && typeof first === 'object' && first.path === undefined && first.fd === undefined && first.handle === undefined && !(first instanceof net.Server)) {
    if (wildcard(first.host)) args[0] = { ...first, host };
  }
  return listen.apply(this, args);
};
