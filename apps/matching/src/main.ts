import { runMain } from '@baton/runtime';
import { bootstrapMatching } from './index';

runMain('matching', bootstrapMatching);
