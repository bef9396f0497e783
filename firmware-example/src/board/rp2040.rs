//! Raspberry Pi Pico (RP2040) start-up: the second-stage bootloader, and the clocks the Pico
//! SDK and rp2040-hal run at (12 MHz crystal, system PLL, 125 MHz).
//!
//! The registers are written directly, in the order of the Pico SDK's `clocks_init` (RP2040
//! datasheet 2.15 to 2.18): about forty lines, where rp2040-hal would add a PAC and two
//! embedded-hal versions to the build for the same writes.

use core::ptr::{read_volatile, write_volatile};

/// The Pico's boot ROM copies these 256 bytes to RAM and runs them to set up
/// execute-in-place from the W25Q080 flash (its SPI clock: clk_sys / 2, 62.5 MHz once
/// [`init`] has run).
#[link_section = ".boot2"]
#[used]
static BOOT2: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

const CRYSTAL_HZ: u32 = 12_000_000;
/// VCO 12 MHz x 125 = 1500 MHz, / 6 / 2 = 125 MHz (the SDK's default for the Pico).
const PLL_FEEDBACK_DIVIDER: u32 = 125;
const PLL_POST_DIVIDER_1: u32 = 6;
const PLL_POST_DIVIDER_2: u32 = 2;
pub const SYSTEM_CLOCK_HZ: u32 =
    CRYSTAL_HZ * PLL_FEEDBACK_DIVIDER / PLL_POST_DIVIDER_1 / PLL_POST_DIVIDER_2;

/// Atomic set and clear aliases of an RP2040 peripheral register (datasheet 2.1.2).
const SET: usize = 0x2000;
const CLEAR: usize = 0x3000;

const RESETS: usize = 0x4000_C000;
const RESETS_RESET: usize = RESETS;
const RESETS_DONE: usize = RESETS + 0x08;
const RESET_PLL_SYS: u32 = 1 << 12;

const XOSC: usize = 0x4002_4000;
const XOSC_CTRL: usize = XOSC;
const XOSC_STATUS: usize = XOSC + 0x04;
const XOSC_STARTUP: usize = XOSC + 0x0C;
const XOSC_CTRL_ENABLE_1_15MHZ: u32 = (0xFAB << 12) | 0xAA0;
const XOSC_STATUS_STABLE: u32 = 1 << 31;
/// About 64 ms of 256-cycle units at 12 MHz: the Pico SDK's margin for slow crystals.
const XOSC_STARTUP_DELAY: u32 = (CRYSTAL_HZ / 1000 + 128) / 256 * 64;

const PLL_SYS: usize = 0x4002_8000;
const PLL_CS: usize = PLL_SYS;
const PLL_PWR: usize = PLL_SYS + 0x04;
const PLL_FBDIV_INT: usize = PLL_SYS + 0x08;
const PLL_PRIM: usize = PLL_SYS + 0x0C;
const PLL_CS_LOCK: u32 = 1 << 31;
const PLL_PWR_PD: u32 = 1 << 0;
const PLL_PWR_POSTDIVPD: u32 = 1 << 3;
const PLL_PWR_VCOPD: u32 = 1 << 5;

const CLOCKS: usize = 0x4000_8000;
const CLK_REF_CTRL: usize = CLOCKS + 0x30;
const CLK_REF_SELECTED: usize = CLOCKS + 0x38;
const CLK_REF_SRC_XOSC: u32 = 2;
const CLK_SYS_CTRL: usize = CLOCKS + 0x3C;
const CLK_SYS_DIV: usize = CLOCKS + 0x40;
const CLK_SYS_SELECTED: usize = CLOCKS + 0x44;
/// CTRL.SRC: 0 = clk_ref, 1 = the auxiliary mux, whose AUXSRC 0 (bits 7:5) is pll_sys.
const CLK_SYS_SRC_AUX: u32 = 1;
const CLK_DIV_BY_ONE: u32 = 1 << 8;

/// Switches the system clock from the ring oscillator (about 6 MHz, varies from chip to
/// chip) to the crystal-locked PLL at [`SYSTEM_CLOCK_HZ`].
pub fn init() {
    // SAFETY: every address is an RP2040 clock, crystal, PLL or reset register from the
    // datasheet; this runs once, before anything depends on clk_sys's frequency (no
    // peripheral is used; SysTick starts later).
    unsafe {
        write(XOSC_STARTUP, XOSC_STARTUP_DELAY);
        write(XOSC_CTRL, XOSC_CTRL_ENABLE_1_15MHZ);
        wait_until(XOSC_STATUS, XOSC_STATUS_STABLE);

        // clk_sys on clk_ref (glitchless mux) while the PLL is reprogrammed; its auxiliary
        // mux set to pll_sys (0) meanwhile, never changed while selected.
        write(CLK_SYS_CTRL, 0);
        wait_until(CLK_SYS_SELECTED, 1);

        write(RESETS_RESET + SET, RESET_PLL_SYS);
        write(RESETS_RESET + CLEAR, RESET_PLL_SYS);
        wait_until(RESETS_DONE, RESET_PLL_SYS);
        write(PLL_CS, 1); // reference divider 1
        write(PLL_FBDIV_INT, PLL_FEEDBACK_DIVIDER);
        write(PLL_PWR + CLEAR, PLL_PWR_PD | PLL_PWR_VCOPD);
        wait_until(PLL_CS, PLL_CS_LOCK);
        write(
            PLL_PRIM,
            (PLL_POST_DIVIDER_1 << 16) | (PLL_POST_DIVIDER_2 << 12),
        );
        write(PLL_PWR + CLEAR, PLL_PWR_POSTDIVPD);

        // clk_ref from the crystal, then clk_sys from pll_sys.
        write(CLK_REF_CTRL, CLK_REF_SRC_XOSC);
        wait_until(CLK_REF_SELECTED, 1 << CLK_REF_SRC_XOSC);
        write(CLK_SYS_DIV, CLK_DIV_BY_ONE);
        write(CLK_SYS_CTRL, CLK_SYS_SRC_AUX);
        wait_until(CLK_SYS_SELECTED, 1 << CLK_SYS_SRC_AUX);
    }
    defmt::println!(
        "rp2040: clk_sys {=u32} Hz from the 12 MHz crystal through pll_sys",
        SYSTEM_CLOCK_HZ
    );
}

/// # Safety
/// `address` must be a writable RP2040 register.
unsafe fn write(address: usize, value: u32) {
    write_volatile(address as *mut u32, value);
}

/// # Safety
/// `address` must be a readable RP2040 register.
unsafe fn wait_until(address: usize, bits: u32) {
    while read_volatile(address as *const u32) & bits != bits {}
}
