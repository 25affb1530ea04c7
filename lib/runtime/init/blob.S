/* blob.S - the bytes of build/kiln-init (lib/runtime/init/kiln-init.c)
 * inside the kiln binary, between kiln_init_start and kiln_init_end
 * (lib/runtime/init.h).  The Makefile passes the program's path as
 * KILN_INIT_BIN. */
	.section .rodata.kiln_init, "a"
	.balign 16
	.globl kiln_init_start
	.type kiln_init_start, @object
kiln_init_start:
	.incbin KILN_INIT_BIN
	.globl kiln_init_end
kiln_init_end:
	.size kiln_init_start, kiln_init_end - kiln_init_start

/* No executable stack for the whole binary because of this object. */
	.section .note.GNU-stack, "", @progbits
