import { Global, Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';

/** Injection token of the frozen BatonConfig each app was booted with. */
export const BATON_CONFIG = Symbol('BATON_CONFIG');

@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: BatonConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: BATON_CONFIG, useValue: config }],
      exports: [BATON_CONFIG],
    };
  }
}
