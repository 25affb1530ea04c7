/* dpkg.h - a dpkg database for packages kiln unpacked itself.
 *
 * kiln unpacks packages itself (docs/building.md), yet `dpkg -l`, `dpkg -S` and
 * security scanners must see what is installed.  This module knows the
 * files dpkg would have left in /var/lib/dpkg on Debian 12 (their text;
 * kiln_layer_tree_add_dpkg_status in layer.h puts them into an image):
 *
 *   status               one paragraph per package: its control fields with
 *                        "Status: install ok installed" after Package and
 *                        a Conffiles field (path and md5) before Description;
 *                        sorted by package name, then architecture
 *   info/<pkg>.list      the package's paths ("/.", "/usr", "/usr/bin/x")
 *   info/<pkg>.md5sums   "md5  path" lines
 *   info/<pkg>.conffiles when the package has conffiles
 *                        (<pkg>:<arch>.* for Multi-Arch: same packages)
 *   info/format          "1": the multiarch database layout
 *   info/<pkg>.<member>  maintainer scripts and the other control members,
 *                        and triggers/File, triggers/<name>, when kiln
 *                        configures the packages (docs/building.md)
 *   available, diversions, statoverride   empty
 *   alternatives/ parts/ triggers/ updates/   empty directories
 */
#ifndef KILN_DPKG_H
#define KILN_DPKG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* What the database records about one package; kiln_layer_tree_add_deb (layer.h)
 * fills it and kiln_layer_tree_add_dpkg_status puts the database into an image. */
struct kiln_dpkg_package {
	char *package, *version, *architecture;
	char *multi_arch;          /* NULL when absent */
	char *paragraph;           /* the normalized control paragraph */
	char *list;                /* .list text, one path per line */
	char *md5sums;             /* .md5sums text ("" when it has no files) */
	char *conffiles;           /* .conffiles text, or NULL */
	char *conffiles_status;    /* " /etc/x <md5>\n" lines for status, or NULL */
	/* Control members written as info/<pkg>.<name> (maintainer scripts,
	 * config, templates, triggers, shlibs, symbols): kiln keeps them only
	 * when it configures the packages (docs/building.md, Maintainer
	 * scripts): kiln_layer_tree_add_deb leaves this empty, the build
	 * fills it then. */
	struct kiln_dpkg_member *members; size_t n_members;
	/* "install ok unpacked" instead of "installed": the configure step
	 * (dpkg --configure --pending) finishes it. */
	bool unpacked;
};

struct kiln_dpkg_member {
	char *name, *data;
	size_t len;
	bool executable;
};

/* Does a triggers control file declare an interest (interest,
 * interest-await, interest-noawait)?  One that only activates triggers
 * needs no configuring: the interested packages are configured anyway. */
bool kiln_dpkg_triggers_interested(const char *data, size_t len);

/* Drop the members (a build that does not configure packages). */
void kiln_dpkg_package_drop_members(struct kiln_dpkg_package *pkg);

/* dpkg's trigger interest files from the packages' "triggers" members:
 * *file gets "PATH PKG[/noawait]" lines for file triggers (NULL when
 * none), names[i]/texts[i] the "PKG[/noawait]" lines of each explicit
 * trigger name (for triggers/NAME), sorted.  A malformed triggers file is
 * an error naming the package. */
int kiln_dpkg_trigger_interests(const struct kiln_dpkg_package *pkgs, size_t n, char **file, char ***names,
				char ***texts, size_t *n_names, struct kiln_error *err);

void kiln_dpkg_package_release(struct kiln_dpkg_package *pkg);

/* The base name of the package's info files: "<pkg>" or "<pkg>:<arch>"
 * for Multi-Arch: same (caller frees). */
char *kiln_dpkg_info_name(const struct kiln_dpkg_package *pkg);

/* The status file text for these packages (caller frees).  Two packages
 * with the same name and architecture are an error. */
char *kiln_dpkg_status_text(const struct kiln_dpkg_package *pkgs, size_t n,
			    struct kiln_error *err);

#endif
