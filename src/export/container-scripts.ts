/**
 * The Python that exported containers run with `python -c` (python/container_health.py,
 * python/create_bucket.py), read when `mlflow-secure export` loads this module and embedded in
 * the files it writes: a container has no copy of our python/ folder. The renderers are pure and
 * get the text in their input. Their fixed values (MLflow's address, the bucket) are those of
 * stack.ts; the unit test holds them together.
 */
import { pythonScriptText } from '../mlflow/python-scripts.js';
import type { ContainerScripts } from './stack.js';

/** MLflow's /health on its loopback address, from inside its container (its image has Python but no curl). */
export const HEALTH_PY = pythonScriptText('container_health');

/** Creates MLflow's bucket when missing (MLflow does not; a missing one shows at the first artifact request). */
export const CREATE_BUCKET_PY = pythonScriptText('create_bucket');

export const containerScripts = (): ContainerScripts => ({ health: HEALTH_PY, createBucket: CREATE_BUCKET_PY });
