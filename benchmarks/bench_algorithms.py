"""Algorithm kernels: action selection and batch update, per variant and batch size."""

from .common import ENV_NAMES, NUM_ENVS, VARIANT_NAMES, make_algorithm, make_env_named, random_batch


class SelectActions:
    params = [VARIANT_NAMES, ENV_NAMES, NUM_ENVS]
    param_names = ["variant", "env", "num_envs"]

    def setup(self, variant, env_name, num_envs):
        env = make_env_named(env_name, num_envs)
        self.algorithm = make_algorithm(variant, env)
        self.states, _, _, _, _, self.masks = random_batch(env, num_envs)
        self.algorithm.select_actions(self.states, self.masks)  # compile outside the timing

    def time_select_actions(self, variant, env_name, num_envs):
        self.algorithm.select_actions(self.states, self.masks)


class BatchUpdate:
    params = [VARIANT_NAMES, ENV_NAMES, NUM_ENVS]
    param_names = ["variant", "env", "num_envs"]

    def setup(self, variant, env_name, num_envs):
        env = make_env_named(env_name, num_envs)
        self.algorithm = make_algorithm(variant, env)
        self.batch = random_batch(env, num_envs)
        self.algorithm.batch_update(*self.batch)

    def time_batch_update(self, variant, env_name, num_envs):
        self.algorithm.batch_update(*self.batch)

    def peakmem_batch_update(self, variant, env_name, num_envs):
        self.algorithm.batch_update(*self.batch)
