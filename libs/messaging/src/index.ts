export { MessageBus, BUS_CLIENT, createMessagingServer, createMessagingClient } from './message-bus';
export { MessagingModule } from './messaging.module';
export type { MessagingOptions } from './message-bus';
export { InProcessBus, InProcessServer, InProcessClient, subjectMatches } from './in-process.transport';
export { PrefixedNatsServer, PrefixedNatsClient } from './nats.transport';
export type { NatsConnectionState, NatsTransportOptions } from './nats.transport';
export { natsConnectionOptions, describeNatsSecurity, readConfigFile } from './nats-connection';
export type { BusConfig, NatsSecurityOptions } from './nats-connection';
export { RunEvents } from './run-events';
