/* processor.h — guest runtime: inline wrappers for privileged and special
 * instructions (control registers, MSRs, CPUID, port I/O, segment registers,
 * descriptor-table loads, TLB invalidation, RFLAGS).
 * Owns: nothing but the wrappers; constants come from <svmsim/arch/x86.h>.
 */
#ifndef GUEST_PROCESSOR_H
#define GUEST_PROCESSOR_H

#include <stdint.h>
#include <svmsim/arch/x86.h>


struct cpuid_regs {
    uint32_t a, b, c, d;
};

static inline struct cpuid_regs cpuid_count(uint32_t leaf, uint32_t subleaf)
{
    struct cpuid_regs r;
    asm volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(subleaf));
    return r;
}

static inline struct cpuid_regs cpuid(uint32_t leaf)
{
    return cpuid_count(leaf, 0);
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
    return lo | ((uint64_t)hi << 32);
}

static inline void wrmsr(uint32_t msr, uint64_t val)
{
    asm volatile("wrmsr" : : "c"(msr), "a"((uint32_t)val), "d"((uint32_t)(val >> 32)) : "memory");
}

#define DEFINE_CR_ACCESSORS(n)                                                  \
    static inline uint64_t read_cr##n(void)                                     \
    {                                                                           \
        uint64_t v;                                                             \
        asm volatile("mov %%cr" #n ", %0" : "=r"(v) : : "memory");              \
        return v;                                                               \
    }                                                                           \
    static inline void write_cr##n(uint64_t v)                                  \
    {                                                                           \
        asm volatile("mov %0, %%cr" #n : : "r"(v) : "memory");                  \
    }
DEFINE_CR_ACCESSORS(0)
DEFINE_CR_ACCESSORS(2)
DEFINE_CR_ACCESSORS(3)
DEFINE_CR_ACCESSORS(4)
DEFINE_CR_ACCESSORS(8)
#undef DEFINE_CR_ACCESSORS

static inline void outb(uint16_t port, uint8_t v)
{
    asm volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void outw(uint16_t port, uint16_t v)
{
    asm volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void outl(uint16_t port, uint32_t v)
{
    asm volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

static inline uint64_t read_rflags(void)
{
    uint64_t v;
    asm volatile("pushfq; popq %0" : "=r"(v) : : "memory");
    return v;
}

static inline void write_rflags(uint64_t v)
{
    asm volatile("pushq %0; popfq" : : "r"(v) : "memory", "cc");
}

#define DEFINE_SEG_READ(seg)                                                    \
    static inline uint16_t read_##seg(void)                                     \
    {                                                                           \
        uint16_t v;                                                             \
        asm volatile("mov %%" #seg ", %0" : "=r"(v));                           \
        return v;                                                               \
    }
DEFINE_SEG_READ(cs)
DEFINE_SEG_READ(ds)
DEFINE_SEG_READ(es)
DEFINE_SEG_READ(fs)
DEFINE_SEG_READ(gs)
DEFINE_SEG_READ(ss)
#undef DEFINE_SEG_READ

static inline void write_ds(uint16_t v) { asm volatile("mov %0, %%ds" : : "r"(v) : "memory"); }
static inline void write_es(uint16_t v) { asm volatile("mov %0, %%es" : : "r"(v) : "memory"); }
static inline void write_ss(uint16_t v) { asm volatile("mov %0, %%ss" : : "r"(v) : "memory"); }

struct __attribute__((packed)) descriptor_table_ptr {
    uint16_t limit;
    uint64_t base;
};

static inline void lgdt(const struct descriptor_table_ptr *p)
{
    asm volatile("lgdt %0" : : "m"(*p) : "memory");
}

static inline void lidt(const struct descriptor_table_ptr *p)
{
    asm volatile("lidt %0" : : "m"(*p) : "memory");
}

static inline void sgdt(struct descriptor_table_ptr *p)
{
    asm volatile("sgdt %0" : "=m"(*p));
}

static inline void sidt(struct descriptor_table_ptr *p)
{
    asm volatile("sidt %0" : "=m"(*p));
}

static inline void ltr(uint16_t sel)
{
    asm volatile("ltr %0" : : "r"(sel) : "memory");
}

static inline uint16_t str(void)
{
    uint16_t v;
    asm volatile("str %0" : "=r"(v));
    return v;
}

static inline void invlpg(const volatile void *va)
{
    asm volatile("invlpg (%0)" : : "r"(va) : "memory");
}

static inline void flush_tlb(void)
{
    write_cr3(read_cr3());
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return lo | ((uint64_t)hi << 32);
}

static inline void cli(void) { asm volatile("cli" : : : "memory"); }
static inline void sti(void) { asm volatile("sti" : : : "memory"); }

/* Stops the compiler from seeing through a value (constant folding). */
#define OPAQUE(x) ({ __typeof__(x) opaque_v_ = (x); asm("" : "+r"(opaque_v_)); opaque_v_; })

#endif
