#include <dnnl.h>
#include <dlfcn.h>

// oneDNN here runs on GNU OpenMP. The thread count must be set through the
// OpenMP runtime itself (OMP_NUM_THREADS is read once, when libgomp loads),
// and libgomp is only an indirect dependency, so look the call up at run time.
static inline int nasd_omp_set_num_threads(int n) {
    void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (!set) return -1;
    set(n);
    return 0;
}

static inline int nasd_omp_get_max_threads(void) {
    int (*get)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    return get ? get() : -1;
}
