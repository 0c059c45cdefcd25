import { runMain } from '@baton/runtime';
import { bootstrapFrontend } from './index';

runMain('frontend', bootstrapFrontend);
