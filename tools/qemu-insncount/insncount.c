/* QEMU TCG plugin (plugin API v1, QEMU 7.2 and later): counts executed guest instructions,
 * in total and per address range, deterministically.
 *
 * Arguments (all optional, comma-separated after the plugin path):
 *   lo=0xADDR,hi=0xADDR   count only instructions with lo <= pc < hi in the total
 *   ranges=FILE           also count each range of FILE, one "LO HI NAME" line per range
 *                         (hex or decimal addresses, NAME without spaces); one QEMU run
 *                         then measures every function of a call graph
 * At exit it prints to stderr "insns: N" (the total) and, with ranges=, one line
 * "range: N NAME" per range in the file's order.
 *
 * The plugin API is declared here rather than taken from QEMU's qemu-plugin.h, so a C
 * compiler is all it needs (Debian ships no plugin header); the declarations are the v1
 * API's, unchanged in later QEMU versions for these functions.
 * Build: tools/qemu-insncount/build.sh (gcc -shared -fPIC -O2). */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*udata_cb_t)(qemu_plugin_id_t, void *);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb_t);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *, enum qemu_plugin_op, void *, uint64_t);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, udata_cb_t, void *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

struct range {
    uint64_t lo, hi, count;
    char name[200];
};

static uint64_t total;
static uint64_t lo = 0, hi = UINT64_MAX;
static struct range *ranges;
static size_t range_count;

/* The first range holding pc, or NULL. Called once per translated instruction, not per
 * executed one, so a linear scan costs nothing measurable for a few hundred ranges. */
static struct range *range_of(uint64_t pc) {
    for (size_t i = 0; i < range_count; i++)
        if (pc >= ranges[i].lo && pc < ranges[i].hi)
            return &ranges[i];
    return NULL;
}

static void trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (pc >= lo && pc < hi)
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
        struct range *r = range_of(pc);
        if (r)
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &r->count, 1);
    }
}

static void done(qemu_plugin_id_t id, void *p) {
    fprintf(stderr, "insns: %" PRIu64 "\n", total);
    for (size_t i = 0; i < range_count; i++)
        fprintf(stderr, "range: %" PRIu64 " %s\n", ranges[i].count, ranges[i].name);
}

/* Reads "LO HI NAME" lines; returns false (after saying why) on a malformed file. */
static bool read_ranges(const char *path) {
    FILE *file = fopen(path, "r");
    if (!file) {
        fprintf(stderr, "insncount: cannot open ranges file %s\n", path);
        return false;
    }
    char line[512];
    size_t capacity = 0, number = 0;
    while (fgets(line, sizeof line, file)) {
        number++;
        struct range r = {0};
        char *end;
        r.lo = strtoull(line, &end, 0);
        char *rest = end;
        r.hi = strtoull(rest, &end, 0);
        if (end == rest || sscanf(end, " %199s", r.name) != 1 || r.hi <= r.lo) {
            fprintf(stderr, "insncount: %s line %zu: expected \"LO HI NAME\" with LO < HI\n", path, number);
            fclose(file);
            return false;
        }
        if (range_count == capacity) {
            capacity = capacity ? 2 * capacity : 64;
            struct range *grown = realloc(ranges, capacity * sizeof *ranges);
            if (!grown) {
                fclose(file);
                return false;
            }
            ranges = grown;
        }
        ranges[range_count++] = r;
    }
    fclose(file);
    return true;
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "lo=", 3)) lo = strtoull(argv[i] + 3, NULL, 0);
        else if (!strncmp(argv[i], "hi=", 3)) hi = strtoull(argv[i] + 3, NULL, 0);
        else if (!strncmp(argv[i], "ranges=", 7)) {
            if (!read_ranges(argv[i] + 7)) return -1;
        } else {
            fprintf(stderr, "insncount: unknown argument %s (lo=, hi=, ranges=)\n", argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, trans);
    qemu_plugin_register_atexit_cb(id, done, NULL);
    return 0;
}
