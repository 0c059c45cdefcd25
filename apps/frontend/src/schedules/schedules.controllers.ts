import { All, Controller } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { BatonError, ErrorCode } from '@baton/contracts';

const notYet = () => new BatonError(ErrorCode.UNIMPLEMENTED, 'schedules are not implemented yet');

/** ScheduleService is part of the contract; the scheduler's issue implements it. */
@Controller()
export class SchedulesGrpcController {
  @GrpcMethod('ScheduleService', 'Create')
  create() {
    throw notYet();
  }

  @GrpcMethod('ScheduleService', 'Get')
  get() {
    throw notYet();
  }

  @GrpcMethod('ScheduleService', 'List')
  list() {
    throw notYet();
  }

  @GrpcMethod('ScheduleService', 'Update')
  update() {
    throw notYet();
  }

  @GrpcMethod('ScheduleService', 'Pause')
  pause() {
    throw notYet();
  }

  @GrpcMethod('ScheduleService', 'Resume')
  resume() {
    throw notYet();
  }

  @GrpcMethod('ScheduleService', 'Delete')
  delete() {
    throw notYet();
  }
}

@Controller('v1/namespaces/:namespace/schedules')
export class SchedulesHttpController {
  @All(['', '*path'])
  any() {
    throw notYet();
  }
}
