/* Private to lib/ops/container*.c: what the parts of the container module
 * share (docs/architecture.md).  Not for any other module. */
#ifndef KILN_OPS_CONTAINER_INT_H
#define KILN_OPS_CONTAINER_INT_H

#include <stddef.h>
#include <sys/types.h>

#include "net.h"

/* container.h's and runtime.h's types, not included here, so that this
 * header stays below container.h (no include cycle between modules). */
struct kiln_container;
struct kiln_container_options;
struct kiln_error;
struct kiln_runtime_options;

/* The runtime `kiln run` uses without --runtime: kiln's own (lib/runtime). */
#define DEFAULT_RUNTIME "kiln"
/* The network mode without --network (docs/containers.md: bridge). */
#define DEFAULT_NETWORK "bridge"


#define STATE_MAX (1u << 20)
#define CONFIG_MAX (4u << 20)
#define IMAGE_FILE_MAX (4u << 20)

struct kiln_container_root {
	char *root;      /* ROOT: layers, volumes, writable layers */
	char *run;       /* RUN: live state */
	char *runc_root; /* RUN/runc */
	char *cgroup_parent;   /* "/kiln": absolute, so runc and kiln's runtime agree */
	char *net_dir;         /* RUN/net */
	struct kiln_net_config net;
	char *net_bridge, *net_subnet, *net_table; /* what net points to; NULL: defaults */
	int lock_fd;     /* RUN/lock while held, else -1 */
};

/* container-state.c: state files, naming, the root's lock */
char *kiln_container_state_dir(const struct kiln_container_root *r, const char *id);
char *kiln_container_layer_dir(const struct kiln_container_root *r, const char *id);
char *kiln_container_state_file(const struct kiln_container_root *r, const char *id, const char *file);
int kiln_container_write_file_quick(const char *path, const char *data, size_t len, struct kiln_error *err);
int kiln_container_lock(struct kiln_container_root *r, struct kiln_error *err);
void kiln_container_unlock(struct kiln_container_root *r);
int kiln_container_monitor_lock_try(const struct kiln_container_root *r, const char *id);
int kiln_container_state_save(const struct kiln_container_root *r, const struct kiln_container *c,
			      struct kiln_error *err);
int kiln_container_state_load(const struct kiln_container_root *r, const char *id, struct kiln_container *c,
			      struct kiln_error *err);

/* container-runc.c: helper programs and the runc driver */
pid_t kiln_container_spawn(char *const argv[], int in, int out, int errfd, struct kiln_error *err);
int kiln_container_wait_status(pid_t pid);
int kiln_container_run_capture(char *const argv[], char **text, struct kiln_error *err);
void kiln_container_runtime_options(const struct kiln_container_root *r, const struct kiln_container *c,
				    const char *bundle, struct kiln_runtime_options *o);
int kiln_container_runtime_delete(const struct kiln_container_root *r, const struct kiln_container *c,
				  struct kiln_error *err);

/* container-monitor.c: cleanup, reaping, the monitor */
int kiln_container_destroy(const struct kiln_container_root *r, const struct kiln_container *c, struct kiln_error *err);
char *kiln_container_log_path(const char *dir, int k);
void kiln_container_copy_in(int *from, int to);
void kiln_container_resize_pty(int pty);

/* container.c: creating */
int kiln_container_create(struct kiln_container_root *r, const struct kiln_container_options *o,
			  struct kiln_container *c, int *lock_fd, struct kiln_error *err);

#endif
