import { Inject, Injectable } from '@nestjs/common';
import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common';
import { BatonError, ErrorCode } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { BATON_CONFIG } from '@baton/runtime';
import { finalize } from 'rxjs';
import type { Observable } from 'rxjs';

/** The worker id a poll names: gRPC in the message, HTTP in the path. */
function workerIdOf(context: ExecutionContext): unknown {
  if (context.getType() === 'http') {
    return context.switchToHttp().getRequest<{ params?: Record<string, unknown> }>().params?.workerId;
  }
  const data = context.switchToRpc().getData<unknown>();
  return typeof data === 'object' && data !== null ? (data as Record<string, unknown>).workerId : undefined;
}

/**
 * At most BATON_MAX_POLLS_PER_WORKER long polls held open per worker on this
 * frontend: each holds a socket and a matching waiter for up to the poll
 * timeout, so one runaway worker could otherwise hold them by the thousand.
 * The SDK keeps one or two per worker (see libs/sdk poll-slots).
 */
@Injectable()
export class PollLimitInterceptor implements NestInterceptor {
  private readonly open = new Map<string, number>();

  constructor(@Inject(BATON_CONFIG) private readonly config: BatonConfig) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const workerId = workerIdOf(context);
    // An id that is not a string is refused by the handler's validation.
    if (typeof workerId !== 'string') return next.handle();
    const held = this.open.get(workerId) ?? 0;
    if (held >= this.config.maxPollsPerWorker) {
      throw new BatonError(
        ErrorCode.RESOURCE_EXHAUSTED,
        `worker ${workerId} already holds ${held} polls open on this frontend (the limit is ${this.config.maxPollsPerWorker})`,
        { retryAfterMs: 1_000 },
      );
    }
    this.open.set(workerId, held + 1);
    return next.handle().pipe(
      finalize(() => {
        const left = (this.open.get(workerId) ?? 1) - 1;
        if (left > 0) this.open.set(workerId, left);
        else this.open.delete(workerId);
      }),
    );
  }
}
