/* gpgv.h - OpenPGP signature checks by gpgv(1), as apt does them. */
#ifndef KILN_GPGV_H
#define KILN_GPGV_H

#include "error.h"

/* Check a clearsigned file (InRelease) against keyring and write the bytes
 * the signature covers to out_path.  Only those bytes may be trusted: text
 * around the signed block is not.  keyring may be a binary keyring or an
 * ASCII-armored key file.  tmp_dir is for a dearmored keyring copy. */
int kiln_gpgv_verify_clearsigned(const char *keyring, const char *in_path, const char *out_path,
				 const char *tmp_dir, struct kiln_error *err);

/* Check a detached signature (Release.gpg) over data_path. */
int kiln_gpgv_verify_detached(const char *keyring, const char *sig_path, const char *data_path,
			      const char *tmp_dir, struct kiln_error *err);

/* Extract the signed text of a clearsigned message WITHOUT checking it
 * (for sources marked trusted).  Returns a malloc'd buffer. */
char *kiln_gpgv_clearsigned_text(const char *data, size_t len, size_t *out_len,
				 struct kiln_error *err);

#endif
