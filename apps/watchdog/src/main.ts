import { runMain } from '@baton/runtime';
import { bootstrapWatchdog } from './index';

runMain('watchdog', bootstrapWatchdog);
