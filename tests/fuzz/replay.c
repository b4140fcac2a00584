/* replay.c - runs a libFuzzer target over files without libFuzzer, so every
 * corpus file (and every crash ever found) is replayed by `make check` with
 * gcc or clang, with or without sanitizers. Arguments: files or directories;
 * without any, the corpus directory it was built with
 * (FUZZ_CORPUS_DIR/FUZZ_NAME). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input goes in a buffer of its exact size, as libFuzzer passes it, so
 * that a sanitizer sees a read past its end. */
static int run_file(const char *path)
{
	static uint8_t buf[1 << 20];
	FILE *f = fopen(path, "rb");
	uint8_t *exact;
	size_t n;

	if (!f) {
		perror(path);
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (!(exact = malloc(n ? n : 1))) {
		perror("malloc");
		return -1;
	}
	memcpy(exact, buf, n);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

static int run_path(const char *path, int *count)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return run_file(path);
	}
	if (!(d = opendir(path))) {
		perror(path);
		return -1;
	}
	while ((e = readdir(d))) {
		char full[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
		if (run_path(full, count) < 0)
			rc = -1;
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	int count = 0, rc = 0;

#ifdef FUZZ_CORPUS_DIR
	if (argc < 2 && run_path(FUZZ_CORPUS_DIR "/" FUZZ_NAME, &count) < 0)
		rc = 1;
#endif
	for (int i = 1; i < argc; i++)
		if (run_path(argv[i], &count) < 0)
			rc = 1;
	printf("%s: replayed %d inputs\n", argv[0], count);
	return rc || count == 0;
}
