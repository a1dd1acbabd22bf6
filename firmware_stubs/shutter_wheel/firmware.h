/* firmware.h - entry points of the shutter/filter-wheel controller firmware. */
#ifndef SWC_FIRMWARE_H
#define SWC_FIRMWARE_H

/* Put the outputs in their safe state and start homing the wheel. */
void fw_init(void);
/* Run one pass: take UART bytes, advance the state machines. Never blocks. */
void fw_poll(void);
/* 1 while no state machine waits on the clock: until a UART byte or an input change, fw_poll has nothing to
   do, so a HAL may sleep (a microcontroller's wait-for-interrupt; the host HAL blocks in poll). */
int fw_idle(void);

#endif
