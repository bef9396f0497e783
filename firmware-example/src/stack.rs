//! Peak stack by painting: fill the free stack with a pattern, run, then find the lowest
//! word that no longer holds it.

use core::ptr::{addr_of, read_volatile, write_volatile};

const PATTERN: u32 = 0x5AC3_5AC3;
/// Left unpainted below the painter's own stack pointer, for its own pushes.
const MARGIN: usize = 64;

extern "C" {
    /// Lowest address the stack may grow to (end of .bss/.uninit), from cortex-m-rt.
    static _stack_end: u32;
    /// Initial stack pointer, from cortex-m-rt.
    static _stack_start: u32;
}

/// Only the addresses of the linker symbols are taken, never their values.
fn bottom() -> usize {
    addr_of!(_stack_end) as usize
}

fn top() -> usize {
    addr_of!(_stack_start) as usize
}

/// Paints the unused stack below the caller.
#[inline(never)]
pub fn paint() {
    let sp = cortex_m::register::msp::read() as usize;
    let mut address = bottom();
    while address + 4 <= sp - MARGIN {
        // SAFETY: between the end of static data and below the live stack (minus a margin
        // for this function's own frame), no one holds a reference; interrupts are off.
        unsafe { write_volatile(address as *mut u32, PATTERN) };
        address += 4;
    }
}

/// Bytes between the top of the stack and the deepest word written since [`paint`].
#[inline(never)]
pub fn peak() -> usize {
    let mut address = bottom();
    // SAFETY: reads of RAM words between the end of static data and the stack top.
    while address < top() && unsafe { read_volatile(address as *const u32) } == PATTERN {
        address += 4;
    }
    top() - address
}
