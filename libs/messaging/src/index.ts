export { MessageBus, BUS_CLIENT, createMessagingServer, createMessagingClient } from './message-bus';
export { MessagingModule } from './messaging.module';
export type { MessagingOptions } from './message-bus';
export { InProcessBus, InProcessServer, InProcessClient, subjectMatches } from './in-process.transport';
export { PrefixedNatsServer, PrefixedNatsClient } from './nats.transport';
export type { NatsTransportOptions } from './nats.transport';
export { RunEvents } from './run-events';
