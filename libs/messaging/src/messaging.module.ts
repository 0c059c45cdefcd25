import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { BUS_CLIENT, MessageBus, createMessagingClient } from './message-bus';
import type { MessagingOptions } from './message-bus';
import { RunEvents } from './run-events';

@Module({})
export class MessagingModule {
  static forRoot(options: MessagingOptions): DynamicModule {
    return {
      module: MessagingModule,
      global: true,
      providers: [{ provide: BUS_CLIENT, useFactory: () => createMessagingClient(options) }, MessageBus, RunEvents],
      exports: [MessageBus, RunEvents],
    };
  }
}
