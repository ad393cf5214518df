/* placeholder until the module lands */
int
main(void);
int
main(void)
{
	return 77;
}
