/* printf.c — guest runtime: COM1 output (polling LSR.THRE before each byte)
 * and a small vsnprintf: %d %i %u %x %X %o %p %s %c %%, flags "-0#+ ",
 * width, precision, and the l/ll/z/h/hh length modifiers.
 */
#include "libguest.h"

void serial_putc(char c)
{
    while (!(inb(COM1_LSR) & COM1_LSR_THRE))
        ;
    outb(COM1_PORT, (uint8_t)c);
}

void puts(const char *s)
{
    while (*s)
        serial_putc(*s++);
}

struct out {
    char *buf;
    size_t size, len;
};

static void out_char(struct out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

struct spec {
    bool left, zero, alt, plus, space;
    int width, prec;
};

static void out_padded(struct out *o, const char *prefix, const char *digits, int ndigits,
                       const struct spec *sp)
{
    int plen = (int)strlen(prefix);
    int zeros = sp->prec > ndigits ? sp->prec - ndigits : 0;
    int total = plen + zeros + ndigits;
    int pad = sp->width > total ? sp->width - total : 0;

    if (sp->zero && !sp->left && sp->prec < 0) {
        zeros += pad;
        pad = 0;
    }
    for (; !sp->left && pad > 0; pad--)
        out_char(o, ' ');
    while (*prefix)
        out_char(o, *prefix++);
    for (; zeros > 0; zeros--)
        out_char(o, '0');
    for (int i = 0; i < ndigits; i++)
        out_char(o, digits[i]);
    for (; pad > 0; pad--)
        out_char(o, ' ');
}

static void out_number(struct out *o, uint64_t v, bool neg, unsigned base, bool upper,
                       const char *prefix, const struct spec *sp)
{
    const char *xd = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24], digits[24];
    char pre[4] = "";
    int n = 0;

    do {
        tmp[n++] = xd[v % base];
        v /= base;
    } while (v);
    if (sp->prec == 0 && n == 1 && tmp[0] == '0')
        n = 0;
    for (int i = 0; i < n; i++)
        digits[i] = tmp[n - 1 - i];
    if (neg)
        pre[0] = '-';
    else if (sp->plus)
        pre[0] = '+';
    else if (sp->space)
        pre[0] = ' ';
    if (prefix)
        memcpy(pre + strlen(pre), prefix, strlen(prefix) + 1);
    out_padded(o, pre, digits, n, sp);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = { buf, size, 0 };

    for (; *fmt; fmt++) {
        struct spec sp = { .prec = -1 };
        int lng = 0;

        if (*fmt != '%') {
            out_char(&o, *fmt);
            continue;
        }
        for (;;) {
            char f = *++fmt;
            if (f == '-')
                sp.left = true;
            else if (f == '0')
                sp.zero = true;
            else if (f == '#')
                sp.alt = true;
            else if (f == '+')
                sp.plus = true;
            else if (f == ' ')
                sp.space = true;
            else
                break;
        }
        if (*fmt == '*') {
            sp.width = va_arg(ap, int);
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                sp.width = sp.width * 10 + (*fmt++ - '0');
        }
        if (*fmt == '.') {
            sp.prec = 0;
            fmt++;
            if (*fmt == '*') {
                sp.prec = va_arg(ap, int);
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    sp.prec = sp.prec * 10 + (*fmt++ - '0');
            }
        }
        for (;; fmt++) {
            if (*fmt == 'l' || *fmt == 'z' || *fmt == 'j' || *fmt == 't')
                lng = 2;
            else if (*fmt == 'h')
                lng = lng > 0 ? lng : lng - 1;
            else
                break;
        }

        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = lng == 2 ? va_arg(ap, int64_t) : va_arg(ap, int);
            if (lng == -1)
                v = (int16_t)v;
            else if (lng <= -2)
                v = (int8_t)v;
            out_number(&o, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0, 10, false, NULL, &sp);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            uint64_t v = lng == 2 ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            unsigned base = *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16;
            const char *prefix = NULL;
            if (lng == -1)
                v = (uint16_t)v;
            else if (lng <= -2)
                v = (uint8_t)v;
            if (sp.alt && v && base == 16)
                prefix = *fmt == 'X' ? "0X" : "0x";
            else if (sp.alt && v && base == 8)
                prefix = "0";
            out_number(&o, v, false, base, *fmt == 'X', prefix, &sp);
            break;
        }
        case 'p':
            out_number(&o, (uint64_t)va_arg(ap, void *), false, 16, false, "0x", &sp);
            break;
        case 'c': {
            char c = (char)va_arg(ap, int);
            sp.prec = -1;
            out_padded(&o, "", &c, 1, &sp);
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            int n;
            if (!s)
                s = "(null)";
            n = (int)strlen(s);
            if (sp.prec >= 0 && sp.prec < n)
                n = sp.prec;
            sp.prec = -1;
            sp.zero = false;
            out_padded(&o, "", s, n, &sp);
            break;
        }
        case '%':
            out_char(&o, '%');
            break;
        case '\0':
            fmt--;
            break;
        default:
            out_char(&o, '%');
            out_char(&o, *fmt);
            break;
        }
    }
    if (o.size)
        o.buf[o.len < o.size ? o.len : o.size - 1] = '\0';
    return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int printf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    puts(buf);
    return n;
}
