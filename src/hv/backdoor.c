/* backdoor.c — step 5 of the #GP path (SPEC-GP.md §5): what KVM does with
 * enable_vmware_backdoor for a #GP of L1 that is no SVM instruction. Only
 * IN, OUT, INS, OUTS (with or without REP) and RDPMC are emulated, under
 * VMware-#GP rules: an access whose first port is the backdoor's (0x5658 or
 * 0x5659) skips the TSS I/O-permission check that made the CPU raise #GP,
 * and RDPMC of the pseudo-counters 0x10000-0x10002 is allowed at any CPL.
 * Anything else gets #GP(0) back. The emulated access goes to the devices
 * like any port I/O (io.c), so a guest at CPL3 and one at CPL0 (a plain
 * IOIO intercept) reach the backdoor device the same way.
 */
#include "hv/hv.h"

#define VMWARE_PORT_LB 0x5658
#define VMWARE_PORT_HB 0x5659

/* The instruction as a port-I/O request; false if it is none. */
static bool decode_pio(const struct l0 *l0, const struct cpu_decoded *insn, struct pio_req *req)
{
    if (insn->opcode_map != ZYDIS_OPCODE_MAP_DEFAULT)
        return false;
    uint8_t op = insn->opcode;
    uint16_t dx = (uint16_t)kvm_register_read_raw(l0, VCPU_REGS_RDX);
    unsigned wide = insn->osize == 2 ? 2 : 4;
    *req = (struct pio_req){ .seg = insn->seg, .asize = insn->asize };
    switch (op) {
    case 0xe4: case 0xe5: case 0xe6: case 0xe7: /* IN/OUT imm8 */
        req->port = (uint16_t)insn->imm;
        break;
    case 0xec: case 0xed: case 0xee: case 0xef: /* IN/OUT DX */
        req->port = dx;
        break;
    case 0x6c: case 0x6d: case 0x6e: case 0x6f: /* INS/OUTS */
        req->port = dx;
        req->string = true;
        req->rep = insn->rep;
        break;
    default:
        return false;
    }
    req->size = (uint8_t)((op & 1) ? wide : 1);
    req->in = op == 0xe4 || op == 0xe5 || op == 0xec || op == 0xed || op == 0x6c || op == 0x6d;
    return true;
}

int vmware_gp_interception(struct l0 *l0, const struct cpu_decoded *insn)
{
    if (insn->opcode_map == ZYDIS_OPCODE_MAP_0F && insn->opcode == 0x33)
        return rdpmc_emulate(l0, true);
    struct pio_req req;
    if (!decode_pio(l0, insn, &req)) {
        queue_exception(l0, X86_VEC_GP, true, 0);
        l0_decide(l0, SVMSIM_DECISION_INJECTED_GP,
                  "not a backdoor instruction (\"%s\"): #GP(0) re-injected", insn->text);
        return 1;
    }
    bool backdoor_port = req.port == VMWARE_PORT_LB || req.port == VMWARE_PORT_HB;
    if (!backdoor_port && !cpu_guest_io_permitted(l0->cpu, req.port, req.size)) {
        queue_exception(l0, X86_VEC_GP, true, 0);
        l0_decide(l0, SVMSIM_DECISION_INJECTED_GP,
                  "port 0x%x denied by the TSS I/O bitmap: #GP(0) re-injected", req.port);
        return 1;
    }
    return l0_pio(l0, &req);
}
