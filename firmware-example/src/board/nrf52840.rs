//! nRF52840 start-up: keep the debug port open across power cycles, and turn the
//! instruction cache on.
//!
//! Registers are written directly (addresses from the nRF52840 Product Specification v1.7);
//! the sequence for the debug port is the one embassy-nrf runs with its default
//! `Debug::Allowed`.

use core::ptr::{read_volatile, write_volatile};

/// FICR.INFO.VARIANT: the build code ("AAF0": rev 3) in its third byte.
const FICR_INFO_VARIANT: *const u32 = 0x1000_0104 as *const u32;
/// Rev 3 (build code F) and later have the hardware-and-software APPROTECT: the debug port
/// locks at every reset unless UICR says HwDisabled *and* the firmware writes
/// APPROTECT.DISABLE after each reset.
const FIRST_BUILD_CODE_WITH_NEW_APPROTECT: u8 = b'F';
const UICR_APPROTECT: *mut u32 = 0x1000_1208 as *mut u32;
/// The value both UICR.APPROTECT (HwDisabled) and APPROTECT.DISABLE (SwDisable) take.
const APPROTECT_DISABLED: u32 = 0x5A;
const APPROTECT_DISABLE: *mut u32 = 0x4000_0558 as *mut u32;

const NVMC_READY: *const u32 = 0x4001_E400 as *const u32;
const NVMC_CONFIG: *mut u32 = 0x4001_E504 as *mut u32;
const NVMC_CONFIG_WRITE_ENABLE: u32 = 1;
const NVMC_CONFIG_READ_ONLY: u32 = 0;
const NVMC_ICACHECNF: *mut u32 = 0x4001_E540 as *mut u32;
const ICACHECNF_CACHEEN: u32 = 1;

pub fn init() {
    keep_debug_port_open();
    // SAFETY: ICACHECNF is an NVMC register; turning the cache on changes only timing (the
    // flash is never written while the program runs, so nothing can go stale).
    unsafe { write_volatile(NVMC_ICACHECNF, ICACHECNF_CACHEEN) };
    defmt::println!("nrf52840: instruction cache on, CPU at 64 MHz (HFINT)");
}

/// Without this, a rev-3 nRF52840 (every DK sold since 2021) locks its debug port at the
/// next power cycle, and probe-rs can then only reach it by erasing the whole chip.
fn keep_debug_port_open() {
    // SAFETY: FICR is read-only factory information, always readable.
    let variant = unsafe { read_volatile(FICR_INFO_VARIANT) };
    let build_code = (variant >> 8) as u8;
    if build_code < FIRST_BUILD_CODE_WITH_NEW_APPROTECT {
        return; // Older silicon: the port stays open unless UICR says otherwise.
    }
    // SAFETY: UICR_APPROTECT is the UICR register the product specification names; the
    // write goes through the NVMC as `write_uicr` requires.
    let written = unsafe { write_uicr(UICR_APPROTECT, APPROTECT_DISABLED) };
    // SAFETY: APPROTECT.DISABLE is write-only and takes effect at once, until the next reset.
    unsafe { write_volatile(APPROTECT_DISABLE, APPROTECT_DISABLED) };
    match written {
        UicrWrite::Unchanged => {}
        UicrWrite::Written => {
            // UICR is read at reset only: restart once so the setting holds from now on.
            defmt::println!("nrf52840: UICR.APPROTECT set to HwDisabled; resetting once");
            cortex_m::peripheral::SCB::sys_reset();
        }
        UicrWrite::Refused(value) => defmt::warn!(
            "nrf52840: UICR.APPROTECT holds {=u32:#x}, not HwDisabled (0x5a): the debug port \
             locks at the next reset. Erase UICR: `probe-rs erase --chip nRF52840_xxAA \
             --allow-erase-all`",
            value
        ),
    }
}

enum UicrWrite {
    Unchanged,
    Written,
    /// Flash bits only go from 1 to 0 without an erase: the word holds another value.
    Refused(u32),
}

/// Programs one UICR word through the NVMC.
///
/// # Safety
/// `address` must be a UICR register; interrupts must not touch the NVMC meanwhile (none
/// are enabled in this program).
unsafe fn write_uicr(address: *mut u32, value: u32) -> UicrWrite {
    let current = read_volatile(address);
    if current == value {
        return UicrWrite::Unchanged;
    }
    if current & value != value {
        return UicrWrite::Refused(current);
    }
    write_volatile(NVMC_CONFIG, NVMC_CONFIG_WRITE_ENABLE);
    wait_for_nvmc();
    write_volatile(address, value);
    cortex_m::asm::dsb();
    wait_for_nvmc();
    write_volatile(NVMC_CONFIG, NVMC_CONFIG_READ_ONLY);
    wait_for_nvmc();
    UicrWrite::Written
}

fn wait_for_nvmc() {
    // SAFETY: NVMC.READY is a read-only status register.
    while unsafe { read_volatile(NVMC_READY) } & 1 == 0 {}
}
