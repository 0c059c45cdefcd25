export { MessageBus, MessagingModule, BUS_CLIENT, createMessagingServer, createMessagingClient } from './message-bus';
export type { MessagingOptions } from './message-bus';
export { InProcessBus, InProcessServer, InProcessClient, subjectMatches } from './in-process.transport';
export { PrefixedNatsServer, PrefixedNatsClient } from './nats.transport';
export type { NatsTransportOptions } from './nats.transport';
