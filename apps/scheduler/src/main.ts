import { runMain } from '@baton/runtime';
import { bootstrapScheduler } from './index';

runMain('scheduler', bootstrapScheduler);
